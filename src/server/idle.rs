//! The request loop's work between requests, one small step at a time so a request that
//! arrives waits for at most one step: indexing the mail an upgrade left unindexed
//! ([`crate::store::mail_search`], [`INDEX_BATCH`] messages a step) and sending the outbox
//! ([`crate::outbox`], one due message a step: a hung MTA holds up one step, never a queue).
//! The loop asks [`IdleWork::wait`] how long it may sleep, polls for a request that long,
//! and runs [`IdleWork::step`] when none came.

use std::time::Duration;

use log::{info, warn};

use crate::outbox::Attempt;
use crate::store::{Backoff, Store};

/// Messages indexed per idle step: small enough that a request arriving meanwhile waits
/// only a few milliseconds (see `examples/bench_search.rs`).
const INDEX_BATCH: usize = 50;

/// The longest the loop sleeps without looking at the outbox: entries another process made
/// due without a change notification (`easd outbox retry`) are noticed within it. (Mail
/// `easd deliver` queues comes with a notification, which makes the loop look at once; see
/// [`crate::server::Backend::run`].) One indexed read a minute.
const OUTBOX_POLL_SECS: i64 = 60;

/// How long the loop may wait for a request before idle work is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Work is due: only look whether a request waits.
    NoTime,
    /// Work may be due after this long.
    For(Duration),
}

/// What is left to do between requests.
pub struct IdleWork {
    backoff: Backoff,
    /// Messages from before the search index remain.
    index_backlog: bool,
    /// When the next queued mail is due (Unix seconds), as last read.
    mail_due: Option<i64>,
}

/// What the outbox sender needs from the loop's settings.
pub struct OutboxSettings<'a> {
    pub submission_command: &'a [String],
    pub notify: Option<std::net::SocketAddr>,
}

impl IdleWork {
    /// Reads what waits in `store` at start-up (so mail due then is sent first thing).
    pub fn new(store: &Store, backoff: Backoff) -> IdleWork {
        let index_backlog = match store.index_backlog_len() {
            Ok(waiting) => {
                if waiting > 0 {
                    info!("{waiting} messages from before the search index will be indexed while idle");
                }
                waiting > 0
            }
            Err(e) => {
                warn!("cannot read the search index backlog: {e}");
                false
            }
        };
        let mut work = IdleWork {
            backoff,
            index_backlog,
            mail_due: None,
        };
        work.reread_outbox(store);
        work
    }

    /// After a request that queued mail, or a wake-up: reads when mail is next due.
    pub fn reread_outbox(&mut self, store: &Store) {
        self.mail_due = match store.next_mail_due() {
            Ok(due) => due,
            Err(e) => {
                warn!("cannot read the outbox: {e}");
                None
            }
        };
    }

    /// How long the loop may wait for a request at `now` before a step is due.
    pub fn wait(&self, now: i64) -> Wait {
        if self.index_backlog {
            return Wait::NoTime;
        }
        match self.mail_due {
            Some(due) if due <= now => Wait::NoTime,
            Some(due) => {
                let seconds = (due - now).min(OUTBOX_POLL_SECS);
                Wait::For(Duration::from_secs(seconds as u64))
            }
            None => Wait::For(Duration::from_secs(OUTBOX_POLL_SECS as u64)),
        }
    }

    /// Does one step of whatever is due at `now`: mail first (someone waits for it), else a
    /// batch of indexing. Idle steps that find nothing due only re-read the outbox.
    pub fn step(&mut self, store: &Store, outbox: &OutboxSettings<'_>, now: i64) {
        if self.mail_due.is_some_and(|due| due <= now) {
            let sent = crate::outbox::send_next_due(
                store,
                outbox.submission_command,
                &self.backoff,
                outbox.notify,
                now,
            );
            match sent {
                Ok(Attempt::NothingDue | Attempt::Sent(_) | Attempt::Retrying(_)) => {}
                Ok(Attempt::GaveUp(id)) => info!("outbox: mail {id} dropped"),
                Err(e) => {
                    // Not retried in a tight loop: the store may be failing for a while.
                    warn!("outbox: {e}");
                    self.mail_due = Some(now + OUTBOX_POLL_SECS);
                    return;
                }
            }
            self.reread_outbox(store);
            return;
        }
        if self.index_backlog {
            self.index_backlog = match store.index_backlog(INDEX_BATCH) {
                Ok(0) => {
                    info!("search index complete");
                    false
                }
                Ok(_) => true,
                Err(e) => {
                    // Not retried in a tight loop; the next start tries again.
                    warn!("indexing mail for search failed: {e}");
                    false
                }
            };
            return;
        }
        self.reread_outbox(store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Outgoing;

    #[test]
    fn the_loop_sleeps_until_queued_mail_is_due_but_never_long() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap();
        let mut idle = IdleWork::new(&store, Backoff::default());
        assert_eq!(idle.wait(1000), Wait::For(Duration::from_secs(60)));
        let to = vec!["rita@remote.example".to_string()];
        let id = store
            .enqueue_mail(
                &Outgoing {
                    user: ann.id,
                    sender: &ann.email,
                    recipients: &to,
                    message: b"x",
                },
                1010,
            )
            .unwrap();
        idle.reread_outbox(&store);
        assert_eq!(idle.wait(1000), Wait::For(Duration::from_secs(10)));
        assert_eq!(idle.wait(1010), Wait::NoTime);
        store.retry_queued_mail(id, 5000).unwrap();
        idle.reread_outbox(&store);
        assert_eq!(idle.wait(1000), Wait::For(Duration::from_secs(60)));
    }
}
