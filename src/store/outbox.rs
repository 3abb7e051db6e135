//! The outbox: mail the server sends on a user's behalf, queued the way an MTA queues it.
//! A write that owes mail (a meeting invitation, a meeting answer, an out-of-office reply)
//! enqueues it in its own transaction, so the mail exists exactly when the write does; the
//! sender (`crate::outbox`) takes due entries one at a time, deletes what the submission
//! command accepted and reschedules a failure with a doubling delay until the entry is too
//! old, when the caller gives up on it. The store only keeps bytes and times: it neither
//! reads the messages nor runs the submission command.

use rusqlite::{params, OptionalExtension, Row};

use super::{Store, StoreError, UserId};

/// One message to queue.
pub struct Outgoing<'a> {
    pub user: UserId,
    /// The envelope sender (`<>` for automatic replies).
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub message: &'a [u8],
}

/// A queued message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    pub user: UserId,
    pub sender: String,
    pub recipients: Vec<String>,
    pub message: Vec<u8>,
    pub created: i64,
    pub attempts: i64,
    pub next_attempt: i64,
    pub last_error: Option<String>,
}

/// When attempts are made: a failed one is retried `first_retry` seconds later, twice as
/// long after each further failure up to `longest`, and no more once the entry is
/// `give_up_after` seconds old; an attempt that never reported (its process died) is taken
/// again `claim_lease` seconds after it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first_retry: i64,
    pub longest: i64,
    pub give_up_after: i64,
    pub claim_lease: i64,
}

impl Default for Backoff {
    /// One minute doubling to one hour; two days in all (what MTAs commonly do). The lease
    /// outlasts the submission command's timeout (two minutes, `mail_submit`).
    fn default() -> Self {
        Backoff {
            first_retry: 60,
            longest: 3600,
            give_up_after: 2 * 24 * 3600,
            claim_lease: 180,
        }
    }
}

impl Backoff {
    /// The wait after failed attempt number `attempts` (counting from 1).
    pub fn delay(&self, attempts: i64) -> i64 {
        let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
        self.first_retry
            .max(1)
            .saturating_mul(1i64 << doublings)
            .min(self.longest.max(1))
    }
}

/// What a failed attempt leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Tried again at this time.
    At(i64),
    /// Too old to try again: the caller tells the owner and drops the entry.
    GiveUp,
}

const COLUMNS: &str =
    "id, user_id, sender, recipients, message, created, attempts, next_attempt, last_error";

fn queued(row: &Row<'_>) -> rusqlite::Result<QueuedMail> {
    let recipients: String = row.get(3)?;
    Ok(QueuedMail {
        id: row.get(0)?,
        user: row.get(1)?,
        sender: row.get(2)?,
        recipients: recipients.lines().map(str::to_string).collect(),
        message: row.get(4)?,
        created: row.get(5)?,
        attempts: row.get(6)?,
        next_attempt: row.get(7)?,
        last_error: row.get(8)?,
    })
}

impl Store {
    /// Queues a message, due at once; inside [`Store::atomically`] it commits with the
    /// write that owes it. Returns its id.
    pub fn enqueue_mail(&self, mail: &Outgoing<'_>, now: i64) -> Result<i64, StoreError> {
        self.insert_queued(mail, now, now)
    }

    /// Queues a message already claimed by its writer for the first attempt (as
    /// [`Store::claim_due_mail`] would, `lease` seconds): a process that queues mail in a
    /// transaction and hands it to the MTA right after the commit (`easd deliver`'s
    /// out-of-office reply) must not race the server, which hears of the commit and looks at
    /// the outbox. If the writer dies before its attempt, the server takes it when the lease
    /// ends.
    pub fn enqueue_claimed_mail(
        &self,
        mail: &Outgoing<'_>,
        now: i64,
        lease: i64,
    ) -> Result<i64, StoreError> {
        self.insert_queued(mail, now, now.saturating_add(lease))
    }

    fn insert_queued(
        &self,
        mail: &Outgoing<'_>,
        now: i64,
        next_attempt: i64,
    ) -> Result<i64, StoreError> {
        let tx = self.write_transaction()?;
        self.conn.execute(
            "INSERT INTO outbox (user_id, sender, recipients, message, created, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                mail.user,
                mail.sender,
                mail.recipients.join("\n"),
                mail.message,
                now,
                next_attempt
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        tx.commit()?;
        self.mail_queued.set(true);
        Ok(id)
    }

    /// Whether this store queued mail or made some due ([`Store::enqueue_mail`],
    /// [`Store::retry_queued_mail`]) since the last call: the request loop re-reads the
    /// outbox's next due time only then, not after every request. (Inside a transaction
    /// that later rolls back the mark stays set; a re-read finds nothing new then.)
    pub fn take_mail_queued(&self) -> bool {
        self.mail_queued.replace(false)
    }

    /// Takes the oldest entry due at `now` for one attempt: its next attempt moves `lease`
    /// seconds ahead first, so another process (or this one after a crash mid-attempt) takes
    /// it again only when the attempt cannot be running any more.
    pub fn claim_due_mail(&self, now: i64, lease: i64) -> Result<Option<QueuedMail>, StoreError> {
        let tx = self.write_transaction()?;
        let found = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE next_attempt <= ?1
                 ORDER BY next_attempt, id LIMIT 1"
            ))?
            .query_row(params![now], queued)
            .optional()?;
        if let Some(mail) = &found {
            self.conn.execute(
                "UPDATE outbox SET next_attempt = ?2 WHERE id = ?1",
                params![mail.id, now.saturating_add(lease)],
            )?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// When the next entry is due, if any is queued.
    pub fn next_mail_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT min(next_attempt) FROM outbox")?
            .query_row([], |row| row.get(0))?)
    }

    /// Removes an entry (sent, given up on, or dropped by the administrator); whether it
    /// was there.
    pub fn remove_queued_mail(&self, id: i64) -> Result<bool, StoreError> {
        let tx = self.write_transaction()?;
        let removed = self
            .conn
            .execute("DELETE FROM outbox WHERE id = ?1", [id])?
            > 0;
        tx.commit()?;
        Ok(removed)
    }

    /// Records a failed attempt at `now`: rescheduled by `backoff`, or [`Retry::GiveUp`]
    /// (the entry left as it is) once it is older than the backoff allows.
    pub fn queued_mail_failed(
        &self,
        id: i64,
        error: &str,
        now: i64,
        backoff: &Backoff,
    ) -> Result<Retry, StoreError> {
        let tx = self.write_transaction()?;
        let found: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT created, attempts FROM outbox WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((created, attempts)) = found else {
            return Err(StoreError::NotFound("queued mail".into()));
        };
        let attempts = attempts + 1;
        let next = now.saturating_add(backoff.delay(attempts));
        let retry = if now.saturating_sub(created) >= backoff.give_up_after {
            Retry::GiveUp
        } else {
            Retry::At(next.min(created.saturating_add(backoff.give_up_after)))
        };
        let at = match retry {
            Retry::At(at) => at,
            Retry::GiveUp => now,
        };
        self.conn.execute(
            "UPDATE outbox SET attempts = ?2, next_attempt = ?3, last_error = ?4 WHERE id = ?1",
            params![id, attempts, at, error],
        )?;
        tx.commit()?;
        Ok(retry)
    }

    /// Makes an entry due at `now` (an administrator's retry); whether it exists.
    pub fn retry_queued_mail(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let tx = self.write_transaction()?;
        let found = self.conn.execute(
            "UPDATE outbox SET next_attempt = ?2 WHERE id = ?1",
            params![id, now],
        )? > 0;
        tx.commit()?;
        self.mail_queued.set(true);
        Ok(found)
    }

    /// One entry.
    pub fn queued_mail(&self, id: i64) -> Result<Option<QueuedMail>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))?
            .query_row([id], queued)
            .optional()?)
    }

    /// Every queued entry, oldest first.
    pub fn queued_mails(&self) -> Result<Vec<QueuedMail>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id"))?;
        let rows = statement.query_map([], queued)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many entries were queued before `time` and are still waiting.
    pub fn mail_waiting_since(&self, time: i64) -> Result<u64, StoreError> {
        waiting_since(&self.conn, time)
    }
}

/// [`Store::mail_waiting_since`] on a bare connection (`easd doctor` reads the file without
/// opening, and so upgrading, a store).
pub fn waiting_since(conn: &rusqlite::Connection, time: i64) -> Result<u64, StoreError> {
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE created < ?1")?
        .query_row([time], |row| row.get(0))?;
    Ok(count as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(store: &Store, user: UserId, now: i64) -> i64 {
        let to = vec!["rita@remote.example".to_string(), "sam@else.example".into()];
        let mail = Outgoing {
            user,
            sender: "ann@example.com",
            recipients: &to,
            message: b"Subject: hi\r\n\r\nbody",
        };
        store.enqueue_mail(&mail, now).unwrap()
    }

    #[test]
    fn the_delay_doubles_from_the_first_retry_up_to_the_longest() {
        let backoff = Backoff::default();
        let delays: Vec<i64> = (1..=8).map(|n| backoff.delay(n)).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff.delay(1000), 3600);
    }

    #[test]
    fn mail_queued_claimed_is_left_to_its_writer_until_the_lease_ends() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap().id;
        let recipients = ["rita@remote.example".to_string()];
        let mail = Outgoing {
            user: ann,
            sender: "<>",
            recipients: &recipients,
            message: b"Subject: away\r\n\r\nbody",
        };
        let id = store.enqueue_claimed_mail(&mail, 1000, 180).unwrap();
        assert_eq!(store.claim_due_mail(1000, 600).unwrap(), None);
        assert_eq!(store.claim_due_mail(1179, 600).unwrap(), None);
        assert_eq!(store.claim_due_mail(1180, 600).unwrap().unwrap().id, id);
    }

    #[test]
    fn an_entry_is_claimed_once_rescheduled_on_failure_and_removed_when_sent() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap().id;
        let id = queue(&store, ann, 1000);
        assert_eq!(store.next_mail_due().unwrap(), Some(1000));
        let claimed = store.claim_due_mail(1000, 600).unwrap().unwrap();
        assert_eq!(
            claimed.recipients,
            ["rita@remote.example", "sam@else.example"]
        );
        assert_eq!(claimed.message, b"Subject: hi\r\n\r\nbody");
        // Claimed: nobody else takes it while the attempt may run.
        assert_eq!(store.claim_due_mail(1000, 600).unwrap(), None);
        assert_eq!(store.next_mail_due().unwrap(), Some(1600));

        let backoff = Backoff::default();
        assert_eq!(
            store
                .queued_mail_failed(id, "relay refused", 1010, &backoff)
                .unwrap(),
            Retry::At(1070)
        );
        assert_eq!(store.claim_due_mail(1069, 600).unwrap(), None);
        let other = queue(&store, ann, 1070);
        assert_eq!(store.claim_due_mail(1070, 600).unwrap().unwrap().id, id);
        assert_eq!(store.claim_due_mail(1070, 600).unwrap().unwrap().id, other);
        assert_eq!(
            store
                .queued_mail_failed(id, "again", 1070, &backoff)
                .unwrap(),
            Retry::At(1190)
        );
        let entry = store.queued_mail(id).unwrap().unwrap();
        assert_eq!(
            (entry.attempts, entry.last_error.as_deref()),
            (2, Some("again"))
        );

        assert!(store.remove_queued_mail(id).unwrap());
        assert!(store.remove_queued_mail(other).unwrap());
        assert_eq!(store.next_mail_due().unwrap(), None);
        assert!(!store.remove_queued_mail(id).unwrap());
    }

    #[test]
    fn an_entry_older_than_the_backoff_allows_is_given_up() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap().id;
        let backoff = Backoff {
            first_retry: 60,
            longest: 3600,
            give_up_after: 1000,
            claim_lease: 180,
        };
        let id = queue(&store, ann, 0);
        // The last retry is never later than the give-up time.
        assert_eq!(
            store.queued_mail_failed(id, "x", 990, &backoff).unwrap(),
            Retry::At(1000)
        );
        assert_eq!(
            store.queued_mail_failed(id, "x", 1000, &backoff).unwrap(),
            Retry::GiveUp
        );
        // Giving up leaves the entry for the caller to remove with its note.
        assert!(store.queued_mail(id).unwrap().is_some());
        assert_eq!(store.mail_waiting_since(1).unwrap(), 1);
        assert_eq!(store.mail_waiting_since(0).unwrap(), 0);
    }

    #[test]
    fn an_entry_exists_only_with_its_write_and_its_owner() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap().id;
        let bob = store.add_user("bob@example.com", "", "pw").unwrap().id;
        // The write that owed it failed: nothing queued.
        let failed: Result<(), StoreError> = store.atomically(|| {
            queue(&store, ann, 10);
            Err(StoreError::NotFound("the item".into()))
        });
        assert!(failed.is_err());
        assert!(store.queued_mails().unwrap().is_empty());

        let kept = queue(&store, ann, 10);
        let gone = queue(&store, bob, 20);
        store.delete_user("bob@example.com").unwrap();
        let left: Vec<i64> = store.queued_mails().unwrap().iter().map(|m| m.id).collect();
        assert_eq!(left, [kept]);
        assert!(!store.retry_queued_mail(gone, 30).unwrap());
        assert!(store.retry_queued_mail(kept, 5).unwrap());
        assert_eq!(store.next_mail_due().unwrap(), Some(5));
    }
}
