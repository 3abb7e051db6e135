//! The request loop's work between requests, one small step at a time so a request that
//! arrives waits for at most one step: indexing filed mail for search
//! ([`crate::store::mail_search`], [`INDEX_BATCH`] messages a step, once that many wait or
//! the oldest has waited [`INDEX_DELAY_SECS`]) and sending the outbox
//! ([`crate::outbox`], one due message a step: a hung MTA holds up one step, never a queue).
//! The loop asks [`IdleWork::wait`] how long it may sleep, polls for a request that long,
//! and runs [`IdleWork::step`] when none came.

use std::time::Duration;

use log::{info, warn};

use crate::outbox::Attempt;
use crate::store::{Backoff, Store};

/// Messages indexed per idle step: small enough that a request arriving meanwhile waits
/// only a few milliseconds (see `examples/bench_search.rs`).
pub const INDEX_BATCH: usize = 50;

/// How long filed mail may wait for the index while fewer than [`INDEX_BATCH`] messages
/// wait. Each indexing transaction writes a new segment of the full-text index (and the
/// index later merges segments), so indexing mail in groups instead of one message per
/// delivery writes far less to the disk (`examples/bench_storage.rs`). Nobody waits for
/// it: Search and Find index the searching user's waiting mail before they query.
pub const INDEX_DELAY_SECS: i64 = 600;

/// How often the loop looks how much mail waits for the index (one read of a small table):
/// `easd deliver` files mail from another process.
const BACKLOG_LOOK_SECS: i64 = 30;

/// The longest the loop sleeps without looking at the outbox. Other processes that queue
/// mail or make it due (`easd deliver`, `easd outbox retry`) send a change notification,
/// which makes the loop look at once (see [`crate::server::Backend::run`]); this bounds what
/// a lost datagram (or a server started without a notify socket) leaves waiting. One indexed
/// read a minute.
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
    /// Messages waiting for the search index, as last read or left by the last batch.
    index_waiting: usize,
    /// Since when (Unix seconds) mail has been waiting for the index, as first seen.
    index_waiting_since: Option<i64>,
    /// When to look at the index backlog again.
    next_backlog_look: i64,
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
    pub fn new(store: &Store, backoff: Backoff, now: i64) -> IdleWork {
        let mut work = IdleWork {
            backoff,
            index_waiting: 0,
            index_waiting_since: None,
            next_backlog_look: now,
            mail_due: None,
        };
        work.look_at_backlog(store, now);
        if work.index_waiting >= INDEX_BATCH {
            info!(
                "{} messages wait for the search index; they are indexed while idle",
                work.index_waiting
            );
        }
        work.reread_outbox(store);
        work
    }

    /// Reads how much mail waits for the index.
    fn look_at_backlog(&mut self, store: &Store, now: i64) {
        self.next_backlog_look = now + BACKLOG_LOOK_SECS;
        match store.index_backlog_len() {
            Ok(waiting) => self.note_waiting(waiting, now),
            Err(e) => warn!("cannot read the search index backlog: {e}"),
        }
    }

    fn note_waiting(&mut self, waiting: usize, now: i64) {
        self.index_waiting = waiting;
        self.index_waiting_since = if waiting == 0 {
            None
        } else {
            self.index_waiting_since.or(Some(now))
        };
    }

    /// Whether a batch of indexing is due at `now`.
    fn indexing_due(&self, now: i64) -> bool {
        self.index_waiting >= INDEX_BATCH
            || self
                .index_waiting_since
                .is_some_and(|since| now - since >= INDEX_DELAY_SECS)
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
        if self.indexing_due(now) {
            return Wait::NoTime;
        }
        let index_due = self
            .index_waiting_since
            .map(|since| since + INDEX_DELAY_SECS);
        let next = [self.mail_due, index_due, Some(self.next_backlog_look)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + OUTBOX_POLL_SECS);
        if next <= now {
            return Wait::NoTime;
        }
        let seconds = (next - now).min(OUTBOX_POLL_SECS);
        Wait::For(Duration::from_secs(seconds as u64))
    }

    /// Does one step of whatever is due at `now`: mail first (someone waits for it), else a
    /// batch of indexing. Idle steps that find nothing due only read: the outbox, and when
    /// it is time, how much mail waits for the index.
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
        if self.indexing_due(now) {
            match store.index_backlog(INDEX_BATCH) {
                Ok(waiting) => self.note_waiting(waiting, now),
                Err(e) => {
                    // Not retried in a tight loop: the next look tries again.
                    warn!("indexing mail for search failed: {e}");
                    self.index_waiting = 0;
                    self.index_waiting_since = None;
                    self.next_backlog_look = now + OUTBOX_POLL_SECS;
                }
            }
            return;
        }
        if now >= self.next_backlog_look {
            self.look_at_backlog(store, now);
        }
        self.reread_outbox(store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::queue_for_rita;

    #[test]
    fn the_loop_sleeps_until_queued_mail_is_due_but_never_long() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap();
        let mut idle = IdleWork::new(&store, Backoff::default(), 1000);
        // Nothing due: the next look at the index backlog bounds the sleep.
        let look = Wait::For(Duration::from_secs(BACKLOG_LOOK_SECS as u64));
        assert_eq!(idle.wait(1000), look);
        let id = queue_for_rita(&store, &ann, b"x", 1010);
        idle.reread_outbox(&store);
        assert_eq!(idle.wait(1000), Wait::For(Duration::from_secs(10)));
        assert_eq!(idle.wait(1010), Wait::NoTime);
        store.retry_queued_mail(id, 5000).unwrap();
        idle.reread_outbox(&store);
        assert_eq!(idle.wait(1000), look);
    }

    fn filed(store: &Store, user: crate::store::UserId, n: usize) {
        let inbox = store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == crate::store::FolderType::Inbox)
            .unwrap()
            .id;
        for i in 0..n {
            let raw = format!("Subject: note {i}\r\n\r\nword{i}\r\n");
            store
                .add_message(user, inbox, &crate::store::NewMessage::new(raw.as_bytes()))
                .unwrap();
        }
    }

    #[test]
    fn filed_mail_is_indexed_in_batches_or_after_the_delay() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap();
        let outbox = OutboxSettings {
            submission_command: &[],
            notify: None,
        };
        let mut idle = IdleWork::new(&store, Backoff::default(), 1000);
        // Filed by another process: seen at the next look, not indexed before the delay.
        filed(&store, ann.id, 3);
        idle.step(&store, &outbox, 1000 + BACKLOG_LOOK_SECS);
        assert_eq!(idle.index_waiting, 3);
        let seen = 1000 + BACKLOG_LOOK_SECS;
        assert_eq!(
            idle.wait(seen + 1),
            Wait::For(Duration::from_secs(BACKLOG_LOOK_SECS as u64 - 1))
        );
        assert!(!idle.indexing_due(seen + INDEX_DELAY_SECS - 1));
        assert_eq!(idle.wait(seen + INDEX_DELAY_SECS), Wait::NoTime);
        idle.step(&store, &outbox, seen + INDEX_DELAY_SECS);
        assert_eq!(store.index_backlog_len().unwrap(), 0);
        assert_eq!(idle.index_waiting_since, None);

        // A full batch is indexed without waiting, one batch a step.
        filed(&store, ann.id, INDEX_BATCH + 2);
        let mut idle = IdleWork::new(&store, Backoff::default(), 5000);
        assert_eq!(idle.wait(5000), Wait::NoTime);
        idle.step(&store, &outbox, 5000);
        assert_eq!(store.index_backlog_len().unwrap(), 2);
        assert!(!idle.indexing_due(5001));
    }
}
